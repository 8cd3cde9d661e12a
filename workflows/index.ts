export { trainingPipeline } from './trainingPipeline';
